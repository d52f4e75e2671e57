//! "Did you mean" by edit distance, shared by every phase.

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = match name.chars().count() {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let candidate = c.to_lowercase();
            let mut d = strsim::damerau_levenshtein(&lower, &candidate);
            // `uppercase` for `upper`, `length` for `len`: one is the other's prefix.
            let shorter = lower.len().min(candidate.len());
            if shorter >= 3 && (lower.starts_with(&candidate) || candidate.starts_with(&lower)) {
                d = d.min(1);
            }
            (d, c)
        })
        .filter(|(d, c)| *d <= limit && *d < c.chars().count())
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn finds_close_names_only() {
        assert_eq!(did_you_mean("confidance", ["confidence", "label"]), Some("confidence"));
        assert_eq!(did_you_mean("stpe", ["step", "return"]), Some("step"));
        assert_eq!(did_you_mean("xyz", ["confidence"]), None);
    }
}
