using BenchmarkDotNet.Running;

// Run all: dotnet run -c Release --project benchmarks/SafeAI.Benchmarks -- --filter '*'
// See benchmarks/README.md for the filters and how to read the results.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
