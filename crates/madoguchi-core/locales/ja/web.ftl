## web messages
