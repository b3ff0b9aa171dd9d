"""The reference client: upload photos, follow them over the websocket, download cut-outs."""
