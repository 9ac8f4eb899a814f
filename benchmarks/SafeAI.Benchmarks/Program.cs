using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using SafeAI.Benchmarks;

// Run all: dotnet run -c Release --project benchmarks/SafeAI.Benchmarks -- --filter '*'
// See benchmarks/README.md for the filters and how to read the results.
// Without --job the committed configuration applies (a medium run with ratios); with --job (e.g. --job dry) only that job runs.
if (args.Length > 0 && args[0] == "windows")
{
    // Not a benchmark: the windows each member of a content model scores on chat traffic (WindowDiagnostic).
    return await WindowDiagnostic.RunAsync(args[1..]);
}

var config = args.Contains("--job", StringComparer.Ordinal) ? DefaultConfig.Instance : new PaperConfig();
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
return 0;
