//! Holding off SIGINT, SIGTERM and SIGHUP over the few milliseconds
//! between a refresh's answer and the durable save of the rotated token
//! (docs/security.md, "A process killed during a refresh"): a signal that
//! arrives then takes effect right after the save, so the new refresh
//! token is never lost to a Ctrl-C or a closed terminal. SIGKILL cannot be
//! held off; the store's adopt rule and Cloud's grace window cover it.
//!
//! The handlers are installed on first use and stay: outside a hold a
//! signal does what it always does (the default action, at once).

/// While alive, termination signals wait; dropping it lets any that came
/// take effect.
#[must_use = "signals are held only while the guard lives"]
pub struct Hold {
    #[cfg(unix)]
    armed: Option<&'static unix::Handlers>,
}

/// Starts holding off termination signals. Where handlers cannot be
/// installed, signals are not held (the store's other rules still apply).
pub fn hold() -> Hold {
    #[cfg(unix)]
    {
        let armed = unix::handlers();
        if let Some(h) = armed {
            h.hold();
        }
        Hold { armed }
    }
    #[cfg(not(unix))]
    {
        Hold {}
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(h) = self.armed {
            h.release();
        }
    }
}

#[cfg(unix)]
mod unix {
    use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};

    pub struct Handlers {
        /// Outside a hold: a signal takes its default action at once.
        act_now: Arc<AtomicBool>,
        /// Signals that came during a hold.
        pending: Vec<(i32, Arc<AtomicBool>)>,
    }

    impl Handlers {
        pub fn hold(&self) {
            self.act_now.store(false, Ordering::SeqCst);
        }

        pub fn release(&self) {
            self.act_now.store(true, Ordering::SeqCst);
            for (signal, came) in &self.pending {
                if came.swap(false, Ordering::SeqCst) {
                    crate::trace!("a signal came during the save; acting on it now");
                    let _ = signal_hook::low_level::emulate_default_handler(*signal);
                }
            }
        }
    }

    static HANDLERS: OnceLock<Option<Handlers>> = OnceLock::new();

    pub fn handlers() -> Option<&'static Handlers> {
        HANDLERS.get_or_init(install).as_ref()
    }

    fn install() -> Option<Handlers> {
        let act_now = Arc::new(AtomicBool::new(true));
        let mut pending = Vec::new();
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            let came = Arc::new(AtomicBool::new(false));
            // Registered in this order, so outside a hold the default
            // action runs first and the note is never needed.
            flag::register_conditional_default(signal, act_now.clone()).ok()?;
            flag::register(signal, came.clone()).ok()?;
            pending.push((signal, came));
        }
        Some(Handlers { act_now, pending })
    }
}
