## integration messages
