## desk messages
