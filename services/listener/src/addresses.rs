//! Connections open per client address, for the per-address cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub(crate) struct AddressTable {
    cap: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in the table; released when dropped.
pub(crate) struct AddressSlot {
    table: Option<AddressTable>,
    address: IpAddr,
}

impl AddressTable {
    /// `cap` 0: no cap, and nothing is counted.
    pub fn new(cap: usize) -> Self {
        Self { cap, open: Arc::default() }
    }

    /// A place for one more connection from `address`, if under the cap.
    pub fn take(&self, address: IpAddr) -> Option<AddressSlot> {
        if self.cap == 0 {
            return Some(AddressSlot { table: None, address });
        }
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot { table: Some(self.clone()), address })
    }

    #[cfg(test)]
    pub fn open_from(&self, address: IpAddr) -> usize {
        self.open.lock().map(|open| open.get(&address).copied().unwrap_or(0)).unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(table) = &self.table else { return };
        let mut open = table.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}
