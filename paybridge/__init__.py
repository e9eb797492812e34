"""PayBridge: a live merchant payment dashboard and API in pure Python."""
