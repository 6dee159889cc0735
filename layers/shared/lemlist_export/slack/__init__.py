"""The /lemlist-export slash command: its signature, its words and its answers."""
