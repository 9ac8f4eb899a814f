namespace SafeAI.Samples.ConsoleApp;

/// <summary>Prints a readable transcript: what the user asked, what the assistant said, and what each SafeAI stage decided.</summary>
internal static class Transcript
{
    private static int _turn;

    public static void Heading(string text)
    {
        Console.WriteLine();
        Console.WriteLine($"── {text} " + new string('─', Math.Max(0, 72 - text.Length)));
    }

    public static void User(string text)
    {
        _turn++;
        Console.WriteLine($"[{_turn}] user      > {Shorten(text)}");
    }

    public static void Assistant(string text) => Console.WriteLine($"    assistant > {text.Replace("\n\n", "\n                ", StringComparison.Ordinal)}");

    public static void Disclosure(AIDisclosure? disclosure)
    {
        if (disclosure is not null)
        {
            Console.WriteLine($"    header    : {AIDisclosureHeader.HeaderName}: {disclosure.ToHeaderValue()}");
        }
    }

    public static void Note(string text) => Console.WriteLine($"    note      : {text}");

    public static void Result(SafeAIResult? result)
    {
        if (result is null)
        {
            Console.WriteLine("    safeai    : (no result attached)");
            return;
        }

        Console.WriteLine($"    safeai    : outcome {GuardVerdict.GetActionName(result.Outcome)}");
        foreach (var verdict in result)
        {
            Console.WriteLine($"                {verdict}");
        }
    }

    private static string Shorten(string text) => text.Length <= 90 ? text : $"{text[..60]}... ({text.Length:N0} characters)";
}
