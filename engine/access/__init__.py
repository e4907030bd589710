"""Who may call: client keys, model allow-lists, requests and tokens per minute."""
