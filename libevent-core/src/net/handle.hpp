// The one lifetime rule for libuv handles (uvw's): a handle lives inside a node on the heap, its
// `data` points at that node, and only the close callback frees the node, once libuv is done
// with the handle. close_node() is that rule; a node's destructor does whatever else its end needs.
#pragma once

#include <uv.h>

namespace tagbus::inline v0::detail {

template <typename Node>
void delete_node(uv_handle_t* h) {
    delete static_cast<Node*>(h->data);
}

/// Closes `handle`, a member of `*node` whose data is `node`; the node is deleted by the close
/// callback. Nothing may use the node afterwards.
template <typename Node, typename Handle>
void close_node(Node* node, Handle& handle) {
    auto* h = reinterpret_cast<uv_handle_t*>(&handle);  // any handle type, or a union of them
    h->data = node;
    uv_close(h, &delete_node<Node>);
}

}  // namespace tagbus::inline v0::detail
