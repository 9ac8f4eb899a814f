using Microsoft.Extensions.Time.Testing;
using SafeAI.Statistics;

namespace SafeAI.Monitoring.Tests;

public sealed class DriftTests
{
    private static readonly string[] BillingEn =
    [
        "I was charged twice for my subscription this month", "How do I update the credit card on my account", "Can I get a refund for the annual plan",
        "Why is my invoice higher than last month", "Please cancel my subscription at the end of the billing period", "Where can I download my receipts",
        "The payment failed but my bank says it went through", "Do you offer a discount for students", "How do I change my billing address",
        "I want to switch from the monthly to the yearly plan", "My account was suspended after a failed payment", "Can you send the invoice to my accountant",
    ];

    private static readonly string[] Openers = ["Hi,", "Hello,", "Hey there,", "Good morning,", "", "Quick question:", "Please help:"];

    private static readonly string[] Closers = ["Thanks!", "Thank you.", "", "Regards", "Cheers", "Appreciate it."];

    private static readonly string[] BillingDe =
    [
        "Mir wurde das Abonnement diesen Monat doppelt berechnet", "Wie aktualisiere ich die Kreditkarte in meinem Konto", "Kann ich eine Erstattung für den Jahresplan bekommen",
        "Warum ist meine Rechnung höher als letzten Monat", "Bitte kündigen Sie mein Abonnement zum Ende des Abrechnungszeitraums", "Wo kann ich meine Belege herunterladen",
    ];

    private static readonly string[] BillingRu =
    [
        "С меня дважды списали плату за подписку в этом месяце", "Как обновить кредитную карту в моём аккаунте", "Можно ли вернуть деньги за годовой план",
        "Почему мой счёт больше, чем в прошлом месяце", "Пожалуйста, отмените мою подписку в конце расчётного периода",
    ];

    private static readonly string[] CodingEn =
    [
        "How do I reverse a linked list in Python", "Why does my React component render twice", "Explain the difference between a process and a thread",
        "My SQL query with a left join returns duplicate rows", "How can I parse JSON in C# without reflection", "What is the time complexity of quicksort",
        "The Docker container exits immediately after start", "How do I write a unit test for an async method",
    ];

    [Fact]
    public void Statistics_MatchHandComputedValues()
    {
        // JS((0.5, 0.5), (0.9, 0.1)) in bits: M = (0.7, 0.3); KL(P‖M) = 0.5·log₂(5/7) + 0.5·log₂(5/3) = 0.125769,
        // KL(Q‖M) = 0.9·log₂(9/7) + 0.1·log₂(1/3) = 0.167817; JS = (0.125769 + 0.167817) / 2 = 0.146793.
        Assert.Equal(0.146793, DriftStatistics.JensenShannon([50, 50], [90, 10]), 5);
        Assert.Equal(1.0, DriftStatistics.JensenShannon([10, 0], [0, 10]), 12);
        Assert.Equal(0.0, DriftStatistics.JensenShannon([3, 7], [30, 70]), 12);

        // PSI((0.5, 0.5) → (0.9, 0.1)) = (0.9 − 0.5)·ln(1.8) + (0.1 − 0.5)·ln(0.2) = 0.235115 + 0.643775 = 0.878890.
        Assert.Equal(0.878890, DriftStatistics.PopulationStabilityIndex([50, 50], [90, 10]), 5);
        Assert.Equal(0.0, DriftStatistics.PopulationStabilityIndex([1, 2, 3], [10, 20, 30]), 12);
        Assert.True(double.IsNaN(DriftStatistics.PopulationStabilityIndex([0, 0], [1, 1])));
        Assert.Throws<ArgumentException>(() => DriftStatistics.JensenShannon([1], [1, 2]));
    }

    [Fact]
    public void Report_ResampleOfTheReference_ShowsNoDrift()
    {
        var reference = DriftProfile.FromInputs(Requests(BillingEn, 2000, seed: 1));
        var resample = DriftProfile.FromInputs(Requests(BillingEn, 500, seed: 2));

        var report = DriftReport.Compare(reference, resample);

        TestContext.Current.TestOutputHelper?.WriteLine($"resample: {report}");
        Assert.True(report.TopicJs < 0.02, report.ToString());
        Assert.True(report.ScriptPsi < 0.01, report.ToString());
        Assert.True(report.InputLengthPsi < 0.1, report.ToString());
    }

    [Fact]
    public void Report_AnotherLanguage_ShowsDrift()
    {
        var reference = DriftProfile.FromInputs(Requests(BillingEn, 2000, seed: 1));
        var german = DriftProfile.FromInputs(Requests(BillingEn, 250, seed: 3).Concat(Requests(BillingDe, 250, seed: 4)));
        var russian = DriftProfile.FromInputs(Requests(BillingEn, 350, seed: 5).Concat(Requests(BillingRu, 150, seed: 6)));

        var de = DriftReport.Compare(reference, german);
        var ru = DriftReport.Compare(reference, russian);

        TestContext.Current.TestOutputHelper?.WriteLine($"half German: {de}\n30 % Russian: {ru}");
        Assert.True(de.TopicJs > 0.05, de.ToString()); // a resample stays near 0.002
        Assert.True(ru.ScriptPsi > 0.25, ru.ToString());
        Assert.True(ru.TopicJs > 0.05, ru.ToString());
    }

    [Fact]
    public void Report_AnotherTopic_ShowsDrift()
    {
        var reference = DriftProfile.FromInputs(Requests(BillingEn, 2000, seed: 1));
        var coding = DriftProfile.FromInputs(Requests(BillingEn, 250, seed: 7).Concat(Requests(CodingEn, 250, seed: 8)));

        var report = DriftReport.Compare(reference, coding);

        TestContext.Current.TestOutputHelper?.WriteLine($"half coding: {report}");
        Assert.True(report.TopicJs > 0.05, report.ToString());
        Assert.True(report.ScriptPsi < 0.05, report.ToString()); // same script: only the trigram distribution can tell
    }

    [Fact]
    public async Task Detector_ShiftedTraffic_RecordsScoresThatFireADriftRule_AndAResampleDoesNot()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));
        var recorder = new MetricsRecorder(null, clock);
        var detector = new DriftDetector(recorder, new DriftOptions { ReferenceSize = 1000, MinInputs = 200, SampleEvery = 1 });
        var engine = new AlertEngine(recorder, [new AlertRule(new AlertRuleOptions { Name = "topic-drift", Metric = "drift.input.topic.js", Above = 0.05, Window = TimeSpan.FromMinutes(10), MinSamples = 1 })]);

        async Task<List<AlertEvent>> Feed(IEnumerable<string> inputs)
        {
            var events = new List<AlertEvent>();
            foreach (var chunk in inputs.Chunk(20))
            {
                foreach (var input in chunk)
                {
                    detector.ObserveInput(input);
                }

                clock.Advance(TimeSpan.FromMinutes(1));
                events.AddRange(await engine.EvaluateAsync(TestContext.Current.CancellationToken));
            }

            return events;
        }

        Assert.Empty(await Feed(Requests(BillingEn, 1000, seed: 11))); // learns the reference
        Assert.NotNull(detector.Reference);
        Assert.Empty(await Feed(Requests(BillingEn, 1200, seed: 12)));
        Assert.True(detector.Report()!.TopicJs < 0.02);

        var events = await Feed(Requests(CodingEn, 1200, seed: 13).Zip(Requests(BillingRu, 1200, seed: 14), static (a, b) => new[] { a, b }).SelectMany(static x => x));

        var fired = Assert.Single(events, static e => e.Kind == AlertEventKind.Fired);
        Assert.Equal("drift.input.topic.js", fired.Metric);
    }

    /// <summary>Requests drawn from templates with a seeded generator: an opener, one or two sentences, a closer, sometimes a number.</summary>
    private static IEnumerable<string> Requests(string[] sentences, int count, int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var body = sentences[random.Next(sentences.Length)] + (random.NextDouble() < 0.3 ? ". " + sentences[random.Next(sentences.Length)] : string.Empty);
            var number = random.NextDouble() < 0.2 ? $" (#{random.Next(1000, 99999)})" : string.Empty;
            yield return $"{Openers[random.Next(Openers.Length)]} {body}{number}? {Closers[random.Next(Closers.Length)]}".Trim();
        }
    }
}
