//! A small REST key-value store on strela: route params, JSON in and out, typed errors, and
//! bearer auth on the writes only.
//!
//! ```sh
//! cargo run --release -p strela --example kv            # listens on 127.0.0.1:8080, token "secret"
//! curl -X PUT -H 'Authorization: Bearer secret' -H 'Content-Type: application/json' \
//!      -d '{"value": 42}' http://127.0.0.1:8080/kv/answer
//! curl http://127.0.0.1:8080/kv/answer                  # {"key":"answer","value":42}
//! curl http://127.0.0.1:8080/kv                         # {"keys":["answer"]}
//! curl -X DELETE -H 'Authorization: Bearer secret' http://127.0.0.1:8080/kv/answer
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use strela::middleware::{layer, BearerAuth, Recover};
use strela::{fallible, HttpError, Request, Response, ServerBuilder};

/// The store: many readers, one writer at a time (reads do not block each other).
#[derive(Debug, Default)]
pub struct Store {
    map: RwLock<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Put {
    value: serde_json::Value,
}

const MAX_KEY: usize = 256;

fn key<'a>(req: &Request<'a>) -> Result<&'a str, HttpError> {
    let k = req
        .param("key")
        .ok_or_else(|| HttpError::bad_request("missing key"))?;
    if k.is_empty() || k.len() > MAX_KEY {
        return Err(HttpError::bad_request("keys are 1 to 256 bytes"));
    }
    Ok(k)
}

/// Adds the store's routes to `b`; writes require `Authorization: Bearer <token>`.
pub fn routes(b: ServerBuilder, store: Arc<Store>, token: &str) -> ServerBuilder {
    let auth = BearerAuth::new("kv", [token]);
    let (s1, s2, s3, s4) = (store.clone(), store.clone(), store.clone(), store);
    b.get("/kv", move |_: &Request<'_>, res: &mut Response<'_>| {
        let map = s1.map.read().unwrap_or_else(|e| e.into_inner());
        res.json(&serde_json::json!({ "keys": map.keys().collect::<Vec<_>>() }));
    })
    .get(
        "/kv/{key}",
        fallible(move |req, res| {
            let k = key(req)?;
            let map = s2.map.read().unwrap_or_else(|e| e.into_inner());
            let v = map.get(k).ok_or_else(HttpError::not_found)?;
            res.json(&serde_json::json!({ "key": k, "value": v }));
            Ok(())
        }),
    )
    .put(
        "/kv/{key}",
        layer(
            auth.clone(),
            fallible(move |req, res| {
                let k = key(req)?;
                let body: Put = req.json()?;
                let created = s3
                    .map
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(k.to_string(), body.value)
                    .is_none();
                res.status(if created { 201 } else { 200 })
                    .json(&serde_json::json!({ "key": k }));
                Ok(())
            }),
        ),
    )
    .delete(
        "/kv/{key}",
        layer(
            auth,
            fallible(move |req, res| {
                let k = key(req)?;
                s4.map
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(k)
                    .ok_or_else(HttpError::not_found)?;
                res.status(204);
                Ok(())
            }),
        ),
    )
    .wrap(Recover::new())
}

#[allow(dead_code)] // the integration test includes this file for `routes` only
fn main() -> std::io::Result<()> {
    let token = std::env::var("KV_TOKEN").unwrap_or_else(|_| "secret".into());
    let b = strela::Server::builder().bind("127.0.0.1:8080".parse().unwrap());
    let server = routes(b, Arc::default(), &token).start()?;
    eprintln!("kv example on http://{}", server.local_addr());
    server.join()
}
