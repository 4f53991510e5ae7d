//! A Graph TEST DOUBLE of a test's own (never the lab's shared one), for tests that
//! drive it into faults: the lab tenant's ids and client secret, so the lab config
//! only needs the double's address swapped in.

use riposte_graph_double::{Double, Shared, User};
use riposte_testlab::Lab;

/// The double with `users` on a free port, served from a thread of its own for the
/// whole test: its address and its state (faults, counters).
pub fn start_graph_double(lab: &Lab, users: Vec<User>) -> (String, Shared) {
    let secret = std::fs::read_to_string(lab.repo.join(".lab/graph/client.secret"))
        .expect("the lab's Graph client secret (scripts/lab up)");
    let state = Double::new(
        "contoso-lab-tenant",
        "riposte-lab-app",
        secret.trim(),
        users,
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let served = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            let _ = riposte_graph_double::serve(listener, served).await;
        });
    });
    (rx.recv().unwrap(), state)
}
