//! The request a handler sees: a zero-copy view into the connection's read buffer (method,
//! target, fields, body as borrowed slices), the request's facts (arrival, id, peer, deadline)
//! and its route match.

use crate::proto::head::{
    Head, HeaderScratch, HeaderSpan, Method, Span, Version, F_HAS_QUERY, F_KEEP_ALIVE,
};
use crate::service::body::{BodyReader, BodyTap};

/// A parsed request: a zero-copy view into the connection's read buffer, valid while the handler
/// runs. Method, path, query and header names are `&str`; header values and the body are bytes.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The head followed by the body bytes, as received (the body is `buf[head_len..]`).
    buf: &'a [u8],
    headers: &'a [HeaderSpan],
    meta: &'a RequestMeta,
    route: Option<&'a RouteMatch<'a>>,
    /// The parse result, where the connection keeps it (not copied into every view).
    head: &'a Head,
    /// A body still arriving, streamed to this handler.
    tap: Option<&'a BodyTap>,
}

/// Per-request facts that are not in the bytes: when it arrived, its id, who sent it, its
/// deadline. Typed fields, no untyped extension map.
#[derive(Debug, Clone, Copy)]
pub struct RequestMeta {
    /// When the worker read this request's bytes: one clock reading per read, shared by the
    /// requests pipelined in it (the reading that ended the previous batch's writes, when
    /// nothing else came between). [`Stamp::instant`](crate::Stamp::instant) converts it.
    pub received: crate::service::clock::Stamp,
    /// Server-unique id: worker index in the top 16 bits, a per-worker sequence below.
    pub id: u64,
    /// The client's address, when the connection has one.
    pub peer: Option<std::net::SocketAddr>,
    /// When the answer is due, if a deadline applies.
    pub deadline: Option<std::time::Instant>,
}

impl Default for RequestMeta {
    fn default() -> Self {
        RequestMeta {
            received: crate::service::clock::Stamp::now(),
            id: 0,
            peer: None,
            deadline: None,
        }
    }
}

/// The route a request matched: its pattern and parameters (views into the path).
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'a> {
    /// The matched pattern, e.g. `/users/{id}`.
    pub pattern: &'a str,
    /// The parameters.
    pub params: &'a strela_router::Params<'a, 'a>,
}

impl<'a> Request<'a> {
    /// Builds the view over `buf` (which starts at the head) from a parse result: `buf` holds
    /// the head and its whole body, or the head alone.
    #[inline]
    pub(crate) fn new(
        buf: &'a [u8],
        head: &'a Head,
        headers: &'a [HeaderSpan],
        meta: &'a RequestMeta,
    ) -> Self {
        debug_assert!(
            buf.len() as u64 == u64::from(head.head_len) + head.content_length
                || buf.len() as u64 == u64::from(head.head_len)
        );
        Request {
            buf,
            headers,
            meta,
            route: None,
            head,
            tap: None,
        }
    }

    /// A request whose body is still arriving and is streamed to the handler through `tap`.
    pub(crate) fn with_tap(mut self, tap: &'a BodyTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// The body as it arrives. For a route that streams ([`crate::stream_body`]) and a body
    /// that did not come whole with the head, the reader yields it as the client sends it
    /// (asking for it is what sends `100 Continue` to a client that expects one); otherwise
    /// the body was buffered and the reader yields a copy of [`Request::body`].
    pub fn body_reader(&self) -> BodyReader {
        match self.tap {
            Some(t) => t.reader(),
            None => BodyReader::complete(self.body()),
        }
    }

    /// Whether the body is streamed (still arriving: read it with [`Request::body_reader`];
    /// [`Request::body`] is empty).
    pub fn body_streamed(&self) -> bool {
        self.tap.is_some()
    }

    /// The same request with its route match attached (done by the router).
    #[inline]
    pub fn with_route<'b>(&self, route: &'b RouteMatch<'b>) -> Request<'b>
    where
        'a: 'b,
    {
        Request {
            buf: self.buf,
            headers: self.headers,
            meta: self.meta,
            route: Some(route),
            head: self.head,
            tap: self.tap,
        }
    }

    /// A route parameter by name (`{id}` in `/users/{id}`): a raw view into the path, not
    /// percent-decoded. `None` outside a routed request or for an unknown name.
    #[inline]
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.route?.params.get(name)
    }

    /// The matched route pattern, e.g. `/users/{id}`.
    pub fn route(&self) -> Option<&'a str> {
        self.route.map(|r| r.pattern)
    }

    /// The route parameters, in pattern order.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.route.into_iter().flat_map(|r| r.params.iter())
    }

    /// Arrival time, id, peer address and deadline.
    #[inline]
    pub fn meta(&self) -> &'a RequestMeta {
        self.meta
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.meta.peer
    }

    #[inline]
    #[allow(unsafe_code)]
    fn str_of(&self, s: Span) -> &'a str {
        let bytes = s.get(self.buf);
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: every `Span` read through this function (method, path, query, header names)
        // was recorded by `grammar::scan` over these same bytes, and the grammar admits only
        // ASCII there (tchar for the method and names, RFC 3986 characters for the target), so
        // the bytes are valid UTF-8; `buf` is borrowed immutably for 'a, so they are unchanged.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The method token, e.g. `"GET"`.
    #[inline]
    pub fn method(&self) -> &'a str {
        self.str_of(self.head.method)
    }

    /// The decoded method.
    #[inline]
    pub fn method_kind(&self) -> Method {
        self.head.method_kind
    }

    /// The request target's path, e.g. `"/users/7"` (not percent-decoded): of an absolute-form
    /// target (`http://host/users/7`) the path part (`/` when it has none), `*` for
    /// `OPTIONS *`, the authority for CONNECT.
    #[inline]
    pub fn path(&self) -> &'a str {
        self.str_of(self.head.path)
    }

    /// The raw query after `?` (empty when there is none); not percent-decoded.
    #[inline]
    pub fn query(&self) -> &'a str {
        self.str_of(self.head.query)
    }

    /// Whether the target had a `?` (possibly with an empty query).
    pub fn has_query(&self) -> bool {
        self.head.flags & F_HAS_QUERY != 0
    }

    /// The HTTP version.
    #[inline]
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// Whether the connection stays open after this request (keep-alive).
    #[inline]
    pub fn keep_alive(&self) -> bool {
        self.head.flags & F_KEEP_ALIVE != 0
    }

    /// The first header with this name (ASCII case-insensitive), if any.
    #[inline]
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let name = name.as_bytes();
        self.headers.iter().find_map(|h| {
            let n = h.name.get(self.buf);
            (n.len() == name.len() && n.eq_ignore_ascii_case(name)).then(|| h.value.get(self.buf))
        })
    }

    /// All headers, in the order received, as (name, value) pairs.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers
            .iter()
            .map(move |h| (self.str_of(h.name), h.value.get(self.buf)))
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The request body (empty when there is none). Borrowed from the read buffer, not copied.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.buf[self.head.head_len as usize..]
    }
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("path", &self.path())
            .field("query", &self.query())
            .field("version", &self.version())
            .field("headers", &self.header_count())
            .field("body_len", &self.body().len())
            .finish()
    }
}

/// A view of a parsed head alone (its body, if any, is not part of it), for callers that parse
/// heads themselves, such as the C ABI: `buf` and `scratch` are what [`parse_head`](crate::proto::head::parse_head) was given.
pub fn head_view<'a>(
    buf: &'a [u8],
    head: &'a Head,
    scratch: &'a HeaderScratch,
    meta: &'a RequestMeta,
) -> Request<'a> {
    Request::new(
        &buf[..head.head_len as usize],
        head,
        crate::proto::head::spans(scratch, head),
        meta,
    )
}

const _: () = assert!(std::mem::size_of::<Request<'static>>() <= 64);
