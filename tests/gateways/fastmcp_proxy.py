"""fastmcp's proxy over several upstreams, as its docs build one: an MCPConfig
with one entry per upstream, given to `create_proxy`, served over stdio. The
upstreams' tools come out as NAME_tool.

    python3 fastmcp_proxy.py u1=http://127.0.0.1:PORT/mcp u2=...
"""

import sys

from fastmcp.server import create_proxy


def main() -> None:
    servers = {}
    for spec in sys.argv[1:]:
        name, _, url = spec.partition("=")
        servers[name] = {"url": url, "transport": "http"}
    create_proxy({"mcpServers": servers}, name="fastmcp-proxy").run(show_banner=False)


if __name__ == "__main__":
    main()
