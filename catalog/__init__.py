"""What exists: curated model/quant data, the quant table, GGUF header reading and
the pure memory arithmetic of model x quant x context. No network, no subprocesses."""
