//! Prints the normalised events of files as JSON lines (a development aid).
#![forbid(unsafe_code)]

fn main() {
    let mut ingest = riposte_events::Ingest::new(std::env::args().skip(1));
    for item in ingest.by_ref() {
        match item {
            Ok(ev) => println!("{}", serde_json::to_string(&ev).unwrap_or_default()),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    eprintln!("{:?}", ingest.stats());
}
