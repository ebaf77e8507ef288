"""ui layer: rich live view on a TTY, plain lines otherwise, final report (--json, markdown)."""
