using Microsoft.Extensions.Time.Testing;

namespace SafeAI.Monitoring.Tests;

/// <summary>
/// Synthetic production traffic on a fake clock: each minute a Poisson number of calls (seeded), each a success with a
/// given probability and rated with a given probability, recorded into a real <see cref="MetricsRecorder"/>; the
/// real <see cref="AlertEngine"/> evaluates after every minute.
/// </summary>
internal sealed class Traffic(MetricsRecorder recorder, FakeTimeProvider clock, int seed)
{
    private readonly Random _random = new(seed);

    public List<AlertEvent> Events { get; } = [];

    /// <summary>Calls per hour at a given time; 500 by default, with a daily swing of ±40 % when <see cref="DailySwing"/>.</summary>
    public double CallsPerHour { get; set; } = 500;

    public bool DailySwing { get; set; }

    /// <summary>The probability that a call is a success (answered by the AI, not blocked, no fallback).</summary>
    public Func<DateTimeOffset, double> SuccessRate { get; set; } = static _ => 0.95;

    /// <summary>The probability that a call is blocked.</summary>
    public Func<DateTimeOffset, double> BlockRate { get; set; } = static _ => 0.02;

    /// <summary>The share of calls that get a rating.</summary>
    public double RatedShare { get; set; } = 0.3;

    /// <summary>The probability that a rating is a thumbs-down.</summary>
    public Func<DateTimeOffset, double> DownRate { get; set; } = static _ => 0.2;

    /// <summary>Runs the traffic for <paramref name="duration"/>, evaluating after every minute when <paramref name="engine"/> is set.</summary>
    public async Task RunAsync(TimeSpan duration, AlertEngine? engine = null, Func<AlertEvent, bool>? stopWhen = null)
    {
        var end = clock.GetUtcNow() + duration;
        while (clock.GetUtcNow() < end)
        {
            var minute = clock.GetUtcNow();
            var rate = CallsPerHour * (DailySwing ? 1 + (0.4 * Math.Sin(2 * Math.PI * minute.TimeOfDay.TotalHours / 24)) : 1) / 60;
            var calls = Poisson(rate);
            var success = SuccessRate(minute);
            var block = BlockRate(minute);
            var down = DownRate(minute);
            for (var i = 0; i < calls; i++)
            {
                var at = minute + TimeSpan.FromSeconds(_random.NextDouble() * 59.9);
                var u = _random.NextDouble();
                var outcome = u < block ? GuardAction.Block : u < block + (1 - success - block) ? GuardAction.Degrade : GuardAction.Allow;
                recorder.RecordCall(new CallObservation
                {
                    Outcome = outcome,
                    Fallback = outcome == GuardAction.Degrade,
                    Latency = TimeSpan.FromMilliseconds(200 + (_random.NextDouble() * 600)),
                    Arm = "ai",
                }, at);
                if (_random.NextDouble() < RatedShare)
                {
                    recorder.RecordFeedback(_random.NextDouble() < down ? SafeAI.Feedback.FeedbackRating.Down : SafeAI.Feedback.FeedbackRating.Up, "ai", at);
                }
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            if (engine is not null)
            {
                var events = await engine.EvaluateAsync(TestContext.Current.CancellationToken);
                Events.AddRange(events);
                if (stopWhen is not null && events.Any(stopWhen))
                {
                    return;
                }
            }
        }
    }

    private int Poisson(double lambda)
    {
        // Knuth's method; lambda is small (calls per minute).
        var limit = Math.Exp(-lambda);
        var k = 0;
        var p = 1.0;
        do
        {
            k++;
            p *= _random.NextDouble();
        }
        while (p > limit);
        return k - 1;
    }
}
