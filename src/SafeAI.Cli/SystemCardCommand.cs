namespace SafeAI.Cli;

internal static class SystemCardCommand
{
    public const string Help = "safeai system-card";

    public static Task<int> RunAsync(Arguments args, TextWriter console, CancellationToken cancellationToken) => throw new NotImplementedException();
}
