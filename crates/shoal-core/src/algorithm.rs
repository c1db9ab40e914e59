use std::fmt;
use std::str::FromStr;

/// A balancing algorithm, as named in the config (`algorithm = "round_robin"`).
///
/// It lives here, not in shoal-balance, so the config crate can name it without depending on
/// the balancers themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    #[default]
    RoundRobin,
    WeightedRoundRobin,
    LeastConn,
    P2c,
    P2cEwma,
    Random,
    RingHash,
    Maglev,
}

impl Algorithm {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::RoundRobin,
        Algorithm::WeightedRoundRobin,
        Algorithm::LeastConn,
        Algorithm::P2c,
        Algorithm::P2cEwma,
        Algorithm::Random,
        Algorithm::RingHash,
        Algorithm::Maglev,
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::WeightedRoundRobin => "weighted_round_robin",
            Algorithm::LeastConn => "least_conn",
            Algorithm::P2c => "p2c",
            Algorithm::P2cEwma => "p2c_ewma",
            Algorithm::Random => "random",
            Algorithm::RingHash => "ring_hash",
            Algorithm::Maglev => "maglev",
        }
    }

    /// True for the algorithms that place a request by its hash key.
    pub fn is_hashing(self) -> bool {
        matches!(self, Algorithm::RingHash | Algorithm::Maglev)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
                format!(
                    "unknown algorithm {s:?}, expected one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>(), Ok(a));
        }
        assert!("roundrobin".parse::<Algorithm>().is_err());
    }
}
