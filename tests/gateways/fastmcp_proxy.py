"""fastmcp's proxy over several upstreams, as its docs build one: an MCPConfig
with one entry per upstream, given to `create_proxy`. The upstreams' tools
come out as NAME_tool. It serves over stdio, or with --http PORT over
Streamable HTTP at http://127.0.0.1:PORT/mcp (tests/gateways/run uses that, so
the probe's HTTP side runs in CI too).

    python3 fastmcp_proxy.py [--http PORT] u1=http://127.0.0.1:PORT/mcp/u1 u2=...
"""

import argparse

from fastmcp.server import create_proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http", type=int, metavar="PORT")
    parser.add_argument("upstreams", nargs="+", metavar="NAME=URL")
    args = parser.parse_args()
    servers = {}
    for spec in args.upstreams:
        name, _, url = spec.partition("=")
        servers[name] = {"url": url, "transport": "http"}
    proxy = create_proxy({"mcpServers": servers}, name="fastmcp-proxy")
    if args.http is None:
        proxy.run(show_banner=False)
    else:
        proxy.run(transport="http", host="127.0.0.1", port=args.http, show_banner=False)


if __name__ == "__main__":
    main()
