//! Runs the Graph TEST DOUBLE for the lab demo: `riposte-graph-double
//! --listen 127.0.0.1:8443 --users users.json --tenant T --client-id C
//! --client-secret-file F [--storm SEED]`. Not Microsoft Graph. `--storm`
//! starts in storm mode (the default [`Storm`](riposte_graph_double::Storm)
//! profile with that seed); `POST /_double/storm` changes or ends it.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(users), Some(tenant), Some(client_id), Some(secret_file)) = (
        arg(&args, "--listen"),
        arg(&args, "--users"),
        arg(&args, "--tenant"),
        arg(&args, "--client-id"),
        arg(&args, "--client-secret-file"),
    ) else {
        eprintln!(
            "usage: riposte-graph-double --listen ADDR --users FILE.json --tenant T --client-id C --client-secret-file F [--storm SEED]"
        );
        return ExitCode::from(2);
    };
    let read =
        |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
    let (users, secret) = match (read(&users), read(&secret_file)) {
        (Ok(u), Ok(s)) => (u, s.trim().to_string()),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("riposte-graph-double: {e}");
            return ExitCode::from(2);
        }
    };
    let users = match serde_json::from_str(&users) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("riposte-graph-double: the users file is not a JSON array of users: {e}");
            return ExitCode::from(2);
        }
    };
    let storm = match arg(&args, "--storm").map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(seed)) => Some(riposte_graph_double::Storm {
            seed,
            ..Default::default()
        }),
        Some(Err(e)) => {
            eprintln!("riposte-graph-double: --storm takes a seed (an unsigned integer): {e}");
            return ExitCode::from(2);
        }
    };
    let state = riposte_graph_double::Double::new(&tenant, &client_id, &secret, users);
    if let Some(storm) = storm {
        println!("storm mode: {storm:?}");
        state.lock().expect("double").set_storm(Some(storm));
    }
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("riposte-graph-double: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "riposte-graph-double (a TEST DOUBLE of Microsoft Graph, not the real service) on http://{listen}"
    );
    match riposte_graph_double::serve(listener, state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riposte-graph-double: {e}");
            ExitCode::from(1)
        }
    }
}
