//! Which endpoint each request goes to: drawn at random in proportion to the mix's weights.

use rand::RngExt;
use rand::rngs::SmallRng;

use crate::load::plan::Mix;

/// Picks mix endpoints at random in proportion to their weights.
#[derive(Debug, Clone)]
pub struct MixPicker {
    /// Running sums of the weights; endpoint i owns [cumulative[i-1], cumulative[i]).
    cumulative: Vec<u64>,
}

impl MixPicker {
    pub fn new(mix: &Mix) -> MixPicker {
        let cumulative = mix
            .entries()
            .iter()
            .scan(0u64, |sum, entry| {
                *sum += u64::from(entry.weight);
                Some(*sum)
            })
            .collect();
        MixPicker { cumulative }
    }

    pub fn pick(&self, rng: &mut SmallRng) -> usize {
        match self.cumulative.as_slice() {
            [] | [_] => 0,
            [.., total] => {
                let ticket = rng.random_range(0..*total);
                self.cumulative.partition_point(|&sum| sum <= ticket)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn picks_follow_the_weights() {
        let mix: Mix = "/=50,/slow=20,/error=20,/cpu-intensive=10"
            .parse()
            .expect("mix");
        let picker = MixPicker::new(&mix);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 4];
        let draws = 100_000;
        for _ in 0..draws {
            counts[picker.pick(&mut rng)] += 1;
        }
        for (count, weight) in counts.iter().zip([50.0, 20.0, 20.0, 10.0]) {
            let share = f64::from(*count) / f64::from(draws) * 100.0;
            assert!(
                (share - weight).abs() < 1.0,
                "share {share:.2}% for weight {weight}"
            );
        }
        let single = MixPicker::new(&"/only".parse().expect("mix"));
        assert_eq!(single.pick(&mut rng), 0);
    }
}
