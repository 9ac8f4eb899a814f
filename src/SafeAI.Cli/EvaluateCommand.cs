namespace SafeAI.Cli;

internal static class EvaluateCommand
{
    public const string Help = "safeai evaluate";

    public static Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken) => throw new NotImplementedException();
}
