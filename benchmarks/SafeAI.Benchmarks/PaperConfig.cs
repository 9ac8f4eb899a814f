using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace SafeAI.Benchmarks;

/// <summary>
/// The configuration of committed results: the default configuration (loggers, exporters including the GitHub markdown
/// that is committed) with a medium run, as Polly's benchmarks use, and ratios shown as values.
/// </summary>
public sealed class PaperConfig : ManualConfig
{
    public PaperConfig()
    {
        Add(DefaultConfig.Instance);
        AddJob(Job.MediumRun.WithId("MediumRun"));
        AddColumn(BaselineRatioColumn.RatioMean);
        WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Value));
        WithOptions(ConfigOptions.DisableLogFile);
    }
}
