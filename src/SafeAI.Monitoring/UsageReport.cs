namespace SafeAI.Monitoring;

/// <summary>
/// How the system is used and abused, from the call log (no message text needed): the most frequent reasons of
/// flagged and failed calls, and users whose calls were blocked or rate limited many times in a row.
/// </summary>
/// <param name="Calls">The calls analysed.</param>
/// <param name="Outcomes">Calls per outcome.</param>
/// <param name="TopReasons">The most frequent stage and reason of calls that were not plainly allowed, most frequent first.</param>
/// <param name="Streaks">Users with at least the given number of blocked or limited calls in a row, longest streak first.</param>
public sealed record UsageReport(long Calls, IReadOnlyDictionary<string, long> Outcomes, IReadOnlyList<ReasonCount> TopReasons, IReadOnlyList<UserStreak> Streaks)
{
    /// <summary>Analyses call records.</summary>
    /// <param name="records">The records (any order).</param>
    /// <param name="top">How many reasons to list (1 to 1,000).</param>
    /// <param name="minStreak">The shortest run of blocked or limited calls that lists a user (at least 2).</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="top"/> or <paramref name="minStreak"/> is out of range.</exception>
    public static UsageReport Compute(IEnumerable<CallRecord> records, int top = 10, int minStreak = 3)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(top, 1000);
        ArgumentOutOfRangeException.ThrowIfLessThan(minStreak, 2);
        var ordered = records.OrderBy(static r => r.Time).ToList();
        var outcomes = ordered.GroupBy(static r => r.Outcome, StringComparer.Ordinal).ToDictionary(static g => g.Key, static g => (long)g.Count(), StringComparer.Ordinal);
        var reasons = ordered
            .Where(static r => r.Outcome is not ("allow" or "modify"))
            .GroupBy(static r => (Stage: r.Stage ?? "-", Reason: r.Reason ?? r.Outcome))
            .Select(static g => new ReasonCount(g.Key.Stage, g.Key.Reason, g.Count(), g.Select(static r => r.UserId).Where(static u => u is not null).Distinct(StringComparer.Ordinal).Count()))
            .OrderByDescending(static r => r.Calls).ThenBy(static r => r.Reason, StringComparer.Ordinal)
            .Take(top)
            .ToList();
        var streaks = new List<UserStreak>();
        foreach (var user in ordered.Where(static r => r.UserId is not null).GroupBy(static r => r.UserId!, StringComparer.Ordinal))
        {
            int run = 0, longest = 0, blocks = 0, limits = 0, calls = 0;
            DateTimeOffset? runStart = null, longestStart = null, longestEnd = null;
            foreach (var r in user)
            {
                calls++;
                var rejected = r.Outcome is "block" or "limit";
                blocks += r.Outcome == "block" ? 1 : 0;
                limits += r.Outcome == "limit" ? 1 : 0;
                if (rejected)
                {
                    runStart = run == 0 ? r.Time : runStart;
                    run++;
                    if (run > longest)
                    {
                        longest = run;
                        longestStart = runStart;
                        longestEnd = r.Time;
                    }
                }
                else
                {
                    run = 0;
                }
            }

            if (longest >= minStreak)
            {
                streaks.Add(new UserStreak(user.Key, longest, longestStart!.Value, longestEnd!.Value, blocks, limits, calls));
            }
        }

        streaks.Sort(static (a, b) => b.Longest != a.Longest ? b.Longest.CompareTo(a.Longest) : string.CompareOrdinal(a.UserId, b.UserId));
        return new UsageReport(ordered.Count, outcomes, reasons, streaks);
    }
}

/// <summary>How often a stage gave a reason.</summary>
/// <param name="Stage">The stage.</param>
/// <param name="Reason">The reason code (or the outcome, such as <c>error</c>, when there was no verdict).</param>
/// <param name="Calls">The calls.</param>
/// <param name="Users">The distinct users among them.</param>
public sealed record ReasonCount(string Stage, string Reason, int Calls, int Users);

/// <summary>A user's longest run of blocked or rate-limited calls.</summary>
/// <param name="UserId">The user.</param>
/// <param name="Longest">The longest run.</param>
/// <param name="From">When the run started.</param>
/// <param name="To">When it ended.</param>
/// <param name="Blocks">The user's blocked calls in the period.</param>
/// <param name="Limits">The user's rate-limited calls in the period.</param>
/// <param name="Calls">The user's calls in the period.</param>
public sealed record UserStreak(string UserId, int Longest, DateTimeOffset From, DateTimeOffset To, int Blocks, int Limits, int Calls);
