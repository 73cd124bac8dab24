//! Looks paths up in the GitHub API route set with strela-router or raw matchit, for instruction
//! counts under callgrind (the criterion `router` bench is the wall-clock view):
//!
//! ```sh
//! cargo build --release -p strela-benches --example router_loop
//! valgrind --tool=callgrind target/release/examples/router_loop strela param1 100000
//! valgrind --tool=callgrind target/release/examples/router_loop matchit param1 100000
//! ```
//! Subtract a run with 0 iterations and divide by the iterations for instructions per lookup.

use std::hint::black_box;
use strela_router::{Lookup, Router};

const ROUTES: &[&str] = &[
    "/authorizations",
    "/authorizations/{id}",
    "/applications/{client_id}/tokens/{access_token}",
    "/events",
    "/repos/{owner}/{repo}/events",
    "/networks/{owner}/{repo}/events",
    "/orgs/{org}/events",
    "/users/{user}/received_events",
    "/users/{user}/received_events/public",
    "/users/{user}/events",
    "/users/{user}/events/public",
    "/users/{user}/events/orgs/{org}",
    "/feeds",
    "/notifications",
    "/repos/{owner}/{repo}/notifications",
    "/notifications/threads/{id}",
    "/notifications/threads/{id}/subscription",
    "/repos/{owner}/{repo}/stargazers",
    "/users/{user}/starred",
    "/user/starred",
    "/user/starred/{owner}/{repo}",
    "/repos/{owner}/{repo}/subscribers",
    "/users/{user}/subscriptions",
    "/user/subscriptions",
    "/repos/{owner}/{repo}/subscription",
    "/user/subscriptions/{owner}/{repo}",
    "/users/{user}/gists",
    "/gists",
    "/gists/{id}",
    "/gists/{id}/star",
    "/repos/{owner}/{repo}/git/blobs/{sha}",
    "/repos/{owner}/{repo}/git/commits/{sha}",
    "/repos/{owner}/{repo}/git/refs",
    "/repos/{owner}/{repo}/git/tags/{sha}",
    "/repos/{owner}/{repo}/git/trees/{sha}",
    "/issues",
    "/user/issues",
    "/orgs/{org}/issues",
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/{number}",
    "/repos/{owner}/{repo}/assignees",
    "/repos/{owner}/{repo}/assignees/{assignee}",
    "/repos/{owner}/{repo}/issues/{number}/comments",
    "/repos/{owner}/{repo}/issues/{number}/events",
    "/repos/{owner}/{repo}/labels",
    "/repos/{owner}/{repo}/labels/{name}",
    "/repos/{owner}/{repo}/issues/{number}/labels",
    "/repos/{owner}/{repo}/milestones/{number}/labels",
    "/repos/{owner}/{repo}/milestones",
    "/repos/{owner}/{repo}/milestones/{number}",
    "/emojis",
    "/gitignore/templates",
    "/gitignore/templates/{name}",
    "/meta",
    "/rate_limit",
    "/users/{user}/orgs",
    "/user/orgs",
    "/orgs/{org}",
    "/orgs/{org}/members",
    "/orgs/{org}/members/{user}",
    "/orgs/{org}/public_members",
    "/orgs/{org}/public_members/{user}",
    "/orgs/{org}/teams",
    "/teams/{id}",
    "/teams/{id}/members",
    "/teams/{id}/members/{user}",
    "/teams/{id}/repos",
    "/teams/{id}/repos/{owner}/{repo}",
    "/user/teams",
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{number}",
    "/repos/{owner}/{repo}/pulls/{number}/commits",
    "/repos/{owner}/{repo}/pulls/{number}/files",
    "/repos/{owner}/{repo}/pulls/{number}/merge",
    "/repos/{owner}/{repo}/pulls/{number}/comments",
    "/user/repos",
    "/users/{user}/repos",
    "/orgs/{org}/repos",
    "/repositories",
    "/repos/{owner}/{repo}",
    "/repos/{owner}/{repo}/contributors",
    "/repos/{owner}/{repo}/languages",
    "/repos/{owner}/{repo}/teams",
    "/repos/{owner}/{repo}/tags",
    "/repos/{owner}/{repo}/branches",
    "/repos/{owner}/{repo}/branches/{branch}",
    "/repos/{owner}/{repo}/collaborators",
    "/repos/{owner}/{repo}/collaborators/{user}",
    "/repos/{owner}/{repo}/comments",
    "/repos/{owner}/{repo}/commits/{sha}/comments",
    "/repos/{owner}/{repo}/comments/{id}",
    "/repos/{owner}/{repo}/commits",
    "/repos/{owner}/{repo}/commits/{sha}",
    "/repos/{owner}/{repo}/readme",
    "/repos/{owner}/{repo}/contents/{*path}",
    "/repos/{owner}/{repo}/keys",
    "/repos/{owner}/{repo}/keys/{id}",
    "/repos/{owner}/{repo}/downloads",
    "/repos/{owner}/{repo}/downloads/{id}",
    "/repos/{owner}/{repo}/forks",
    "/repos/{owner}/{repo}/hooks",
    "/repos/{owner}/{repo}/hooks/{id}",
    "/repos/{owner}/{repo}/releases",
    "/repos/{owner}/{repo}/releases/{id}",
    "/repos/{owner}/{repo}/releases/{id}/assets",
    "/repos/{owner}/{repo}/stats/contributors",
    "/repos/{owner}/{repo}/stats/commit_activity",
    "/repos/{owner}/{repo}/stats/code_frequency",
    "/repos/{owner}/{repo}/stats/participation",
    "/repos/{owner}/{repo}/stats/punch_card",
    "/repos/{owner}/{repo}/statuses/{ref}",
    "/search/repositories",
    "/search/code",
    "/search/issues",
    "/search/users",
    "/legacy/issues/search/{owner}/{repository}/{state}/{keyword}",
    "/users/{user}",
    "/user",
    "/users",
    "/user/emails",
    "/users/{user}/followers",
    "/user/followers",
    "/users/{user}/following",
    "/user/following",
    "/user/following/{user}",
    "/users/{user}/following/{target_user}",
    "/users/{user}/keys",
    "/user/keys",
    "/user/keys/{id}",
];

const CASES: &[(&str, &str)] = &[
    ("static", "/user/repos"),
    ("param1", "/users/rust-lang"),
    ("params4", "/repos/rust-lang/rust/pulls/12345/comments"),
    (
        "catch_all",
        "/repos/rust-lang/rust/contents/src/lib/core/mod.rs",
    ),
    ("miss", "/repos/rust-lang/rust/unknown/thing"),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "strela".into());
    let case = args.next().unwrap_or_else(|| "static".into());
    let iters: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let path = CASES.iter().find(|c| c.0 == case).expect("known case").1;
    let mut ours = Router::new();
    let mut raw = matchit::Router::new();
    for (i, r) in ROUTES.iter().enumerate() {
        ours.insert("GET", r, i).unwrap();
        raw.insert(*r, i).unwrap();
    }
    let mut acc = 0usize;
    for _ in 0..iters {
        acc += if which == "strela" {
            match ours.lookup(black_box("GET"), black_box(path)) {
                Lookup::Found(f) => *f.value + f.params.len(),
                _ => 1,
            }
        } else {
            match raw.at(black_box(path)) {
                Ok(m) => *m.value + m.params.len(),
                Err(_) => 1,
            }
        };
    }
    println!("{acc}");
}
