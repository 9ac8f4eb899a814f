using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace SafeAI.Benchmarks;

/// <summary>The configuration of committed results: a medium run (as Polly's benchmarks use) with ratios; the default exporters write the GitHub markdown that is committed.</summary>
public sealed class PaperConfig : ManualConfig
{
    public PaperConfig()
    {
        AddJob(Job.MediumRun.WithId("MediumRun"));
        AddColumn(BaselineRatioColumn.RatioMean);
        WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Value));
        WithOptions(ConfigOptions.DisableLogFile);
    }
}
