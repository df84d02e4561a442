//! `dynamic-mcp-server check`: grade a client's handling of changing lists.

pub mod view;
