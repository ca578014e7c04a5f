//! Budgets (SPEC §11): an agent's run may spend at most its spawn's `--max-cost` dollars and
//! `--max-tokens` tokens; past either, its host stops it and the session ends `stopped` with
//! the reason `budget_exceeded`.

use crate::agent::Usage;
use crate::model::Budget;

/// The reason a session is stopped for, as recorded on it.
pub const REASON: &str = "budget_exceeded";

/// What a run used past its budget, or `None` while it is within it. Unknown usage (an
/// agent that reports nothing yet) is within any budget.
pub fn exceeded(budget: &Budget, usage: &Usage) -> Option<String> {
    if let (Some(max), Some(used)) = (budget.max_tokens, usage.total_tokens())
        && used > max
    {
        return Some(format!("{REASON}: {used} tokens used, the budget is {max}"));
    }
    if let (Some(max), Some(cost)) = (budget.max_cost_usd, usage.cost_usd)
        && cost > max
    {
        return Some(format!(
            "{REASON}: ${cost:.4} spent, the budget is ${max:.4}"
        ));
    }
    None
}

/// The budget of a session: its own limits, each falling back to the host's default.
pub fn effective(own: Option<Budget>, default: Budget) -> Budget {
    let own = own.unwrap_or_default();
    Budget {
        max_cost_usd: own.max_cost_usd.or(default.max_cost_usd),
        max_tokens: own.max_tokens.or(default.max_tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cost: Option<f64>) -> Usage {
        Usage {
            input_tokens: Some(input),
            output_tokens: Some(output),
            cost_usd: cost,
            ..Default::default()
        }
    }

    #[test]
    fn a_run_past_either_limit_is_over_budget() {
        let b = Budget {
            max_cost_usd: Some(0.5),
            max_tokens: Some(1000),
        };
        assert_eq!(
            exceeded(&b, &usage(600, 400, Some(0.5))),
            None,
            "at the limit is within"
        );
        let over = exceeded(&b, &usage(600, 401, None)).unwrap();
        assert!(over.starts_with("budget_exceeded: 1001 tokens"), "{over}");
        assert!(
            exceeded(&b, &usage(1, 1, Some(0.51)))
                .unwrap()
                .contains("$0.5100")
        );
        assert_eq!(
            exceeded(&b, &Usage::default()),
            None,
            "nothing reported yet"
        );
        assert_eq!(
            exceeded(&Budget::default(), &usage(1 << 40, 1 << 40, Some(1e9))),
            None
        );
    }

    #[test]
    fn a_sessions_own_limits_win_over_the_hosts() {
        let host = Budget {
            max_cost_usd: Some(2.0),
            max_tokens: Some(10),
        };
        let own = Budget {
            max_tokens: Some(99),
            ..Default::default()
        };
        assert_eq!(
            effective(Some(own), host),
            Budget {
                max_cost_usd: Some(2.0),
                max_tokens: Some(99)
            }
        );
        assert_eq!(effective(None, host), host);
    }
}
