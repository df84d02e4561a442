//! Cursors of the list methods (`tools/list`, and the prompt and resource
//! lists).
//!
//! Every list is answered whole, on one page without a `nextCursor`, so no
//! cursor was ever issued and any cursor a client sends is one the server
//! cannot honour. The spec's pagination rules say an invalid cursor SHOULD get
//! -32602 Invalid params; answering with the first page instead would hand a
//! client that resumes a listing duplicates it cannot detect.

use rmcp::ErrorData as McpError;
use rmcp::model::PaginatedRequestParams;

/// Where the page a list request asks for starts: the start of the list,
/// since no cursor was ever issued; -32602 for any cursor.
pub fn first_page(request: Option<&PaginatedRequestParams>) -> Result<usize, McpError> {
    match request.and_then(|request| request.cursor.as_deref()) {
        None => Ok(0),
        Some(cursor) => Err(McpError::invalid_params(
            format!("Invalid cursor: {cursor:?} was not issued by this server"),
            None,
        )),
    }
}
