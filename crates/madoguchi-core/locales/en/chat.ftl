## chat messages
