using System.Text.RegularExpressions;

namespace SafeAI.Samples.ConsoleApp;

/// <summary>
/// A stage written for this sample, to show how small a custom input check is: it blocks messages that contain what
/// looks like a secret (a private key or a password), so they never reach the model provider.
/// </summary>
internal sealed partial class NoSecretsGuard() : InputGuard("no-secrets")
{
    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, CancellationToken cancellationToken)
    {
        var text = context.GetInputText();
        var verdict = text.Contains("PRIVATE KEY", StringComparison.OrdinalIgnoreCase) || PasswordPattern().IsMatch(text)
            ? Block("secrets.detected")
            : Allow();
        return ValueTask.FromResult(verdict);
    }

    [GeneratedRegex(@"\bpassword\s*(is|=|:)\s*\S+", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordPattern();
}

/// <summary>An output check for this sample: masks phone numbers in answers (a Modify verdict), streamed or not.</summary>
internal sealed partial class PhoneNumberRedactor() : OutputGuard("phone-redactor", screening: new OutputScreeningOptions { WindowSize = 80 })
{
    protected override ValueTask<GuardVerdict> CheckAsync(SafeAIContext context, OutputSegment segment, CancellationToken cancellationToken)
    {
        if (!PhonePattern().IsMatch(segment.Text))
        {
            return ValueTask.FromResult(Allow());
        }

        segment.Replacement = PhonePattern().Replace(segment.Text, "[phone number removed]");
        return ValueTask.FromResult(Modify("pii.phone_redacted"));
    }

    [GeneratedRegex(@"\+?\d[\d ]{7,}\d")]
    private static partial Regex PhonePattern();
}
