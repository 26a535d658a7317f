## desk messages
## Errors of the Desk API (SPEC D1–D7).
desk-error-portal-name = ポータル名は英小文字・数字・ハイフンの 3〜40 文字で入力してください（先頭と末尾にハイフンは使えません）。
desk-error-display-name = 表示名を入力してください（100 文字以内）。
desk-error-user-not-found = このメールアドレスで登録したユーザーはいません。先にユーザー登録を依頼してください。
desk-error-last-admin = ポータルには少なくとも 1 人の管理者が必要です。
desk-error-department-name = 部門名を入力してください（100 文字以内）。
desk-error-department-name-taken = 同じ名前の部門がすでにあります。
desk-error-account-name = 取引先名を入力してください（200 文字以内）。
desk-error-sla-name = SLA 名を入力してください（200 文字以内）。
desk-error-contract-name = 契約名を入力してください（200 文字以内）。
desk-error-unknown-account = この取引先はポータルにありません。
desk-error-unknown-sla = この SLA はポータルにありません。
desk-error-unknown-department = この部門はポータルにありません。
desk-error-unknown-contact = この連絡先はポータルにありません。
desk-error-unknown-classification = この分類はポータルの分類一覧にありません。
desk-error-not-a-member = このユーザーはポータルのメンバーではありません。
desk-error-first-name = 名は 200 文字以内で入力してください。
desk-error-last-name = 姓を入力してください（200 文字以内）。
desk-error-phone = 電話番号は 50 文字以内で入力してください。
desk-error-contact-email-taken = このメールアドレスの連絡先はすでにあります。
desk-error-classifications = 分類を 1 つ以上指定してください。各分類は空でなく 100 文字以内で、重複しないようにしてください。
desk-error-subject = 件名を入力してください（255 文字以内）。
desk-error-idempotency-key = Idempotency-Key ヘッダーは 1〜200 文字で指定してください。
desk-error-description = 説明が長すぎます。
desk-error-content = 本文を入力してください（100,000 文字以内）。
desk-error-thread-kind = スレッドの種類は「reply」（返信）か「note」（メモ）です。チャットの記録は連携機能が追加します。
desk-error-chat-id = チャットの ID を指定してください。
desk-error-chat-message = チャットのメッセージには 1 以上の seq、送信者（visitor・operator・system）、本文、RFC 3339 形式の時刻が必要です。
desk-error-limit = limit は 1〜200 の範囲で指定してください。
desk-error-offset = offset は 0 以上で指定してください。
desk-error-query = 検索語を入力してください（200 文字以内）。
desk-error-service-admin = X-Service-Admin のメールアドレスは、このポータルの管理者ではありません。

# Email channel (SPEC E1–E8)
desk-error-mail-host = サーバー名を入力してください（例: imap.example.com）。
desk-error-mail-port = ポート番号は 1〜65535 で入力してください。
desk-error-mail-security = 接続の保護は「none」「starttls」「tls」のいずれかです。
desk-error-mail-text = この項目を入力してください（255 文字まで）。
desk-error-mail-address = 正しいメールアドレスを入力してください。
desk-error-mail-address-taken = このメールアドレスのメールボックスは既にあります。
desk-mail-ack-body = お問い合わせありがとうございます。問い合わせ番号 #{ $number } で受け付けました。担当者から改めてご連絡します。このメールにそのまま返信すると、同じ問い合わせに追加されます。
desk-mail-error-connect = サーバーに接続できません
desk-mail-error-tls = 暗号化された接続を確立できません
desk-mail-error-login = ログインできません（ユーザー名またはパスワードを確認してください）
desk-mail-error-folder = フォルダーを開けません
desk-mail-error-protocol = サーバーとの通信に失敗しました
