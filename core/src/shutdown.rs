//! Graceful shutdown for every binary.

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    tracing::info!("shutdown signal received");
    Ok(())
}
