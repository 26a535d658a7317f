## desk messages
## Errors of the Desk API (SPEC D1–D7).
desk-error-portal-name = Use 3 to 40 lowercase letters, digits and hyphens for the portal name (not starting or ending with a hyphen).
desk-error-display-name = Enter a display name (up to 100 characters).
desk-error-user-not-found = No user has signed up with this email address. Ask them to sign up first.
desk-error-last-admin = A portal needs at least one administrator.
desk-error-department-name = Enter a department name (up to 100 characters).
desk-error-department-name-taken = This portal already has a department with this name.
desk-error-account-name = Enter an account name (up to 200 characters).
desk-error-sla-name = Enter an SLA name (up to 200 characters).
desk-error-contract-name = Enter a contract name (up to 200 characters).
desk-error-unknown-account = There is no such account in this portal.
desk-error-unknown-sla = There is no such SLA in this portal.
desk-error-unknown-department = There is no such department in this portal.
desk-error-unknown-contact = There is no such contact in this portal.
desk-error-unknown-classification = This classification is not in the portal's list.
desk-error-not-a-member = This user is not a member of this portal.
desk-error-first-name = The first name can be up to 200 characters.
desk-error-last-name = Enter a last name (up to 200 characters).
desk-error-phone = The phone number can be up to 50 characters.
desk-error-contact-email-taken = A contact with this email address already exists in this portal.
desk-error-classifications = Give at least one classification; each must be non-empty, up to 100 characters, and different from the others.
desk-error-subject = Enter a subject (up to 255 characters).
desk-error-idempotency-key = The Idempotency-Key header must hold 1 to 200 characters.
desk-error-description = The description is too long.
desk-error-content = Enter the text (up to 100,000 characters).
desk-error-thread-kind = A thread is a "reply" or a "note"; chat transcripts are added by the integration.
desk-error-chat-id = Give the chat's id.
desk-error-chat-message = A chat message needs a seq of 1 or more, a sender (visitor, operator or system), text and an RFC 3339 time.
desk-error-limit = The limit must be between 1 and 200.
desk-error-offset = The offset must be 0 or more.
desk-error-query = Enter a search term (up to 200 characters).
desk-error-service-admin = The email in X-Service-Admin is not an administrator of this portal.

# Email channel (SPEC E1–E8)
desk-error-mail-host = Enter a server name (e.g. imap.example.com).
desk-error-mail-port = Enter a port between 1 and 65535.
desk-error-mail-security = Security is "none", "starttls" or "tls".
desk-error-mail-text = Fill in this field (up to 255 characters).
desk-error-mail-address = Enter a valid email address.
desk-error-mail-address-taken = A mailbox with this address already exists.
desk-mail-ack-body = Thank you for contacting us. We received your request as ticket #{ $number } and will get back to you. Reply to this mail to add to the same ticket.
desk-mail-error-connect = Cannot connect to the server
desk-mail-error-tls = Cannot establish an encrypted connection
desk-mail-error-login = Cannot log in (check the username and password)
desk-mail-error-folder = Cannot open the folder
desk-mail-error-protocol = Talking to the server failed
