"""What a Lambda container builds once: AWS clients, settings from the environment, secrets."""
