using Microsoft.Extensions.Options;

namespace SafeAI.Onnx;

/// <summary>Validates <see cref="ContentFilterOptions"/> with messages that name the setting.</summary>
internal sealed class ContentFilterOptionsValidator : IValidateOptions<ContentFilterOptions>
{
    /// <summary>The least released context scored with each streamed window.</summary>
    internal const int MinContextSize = 16;

    public ValidateOptionsResult Validate(string? name, ContentFilterOptions options)
    {
        var errors = GetErrors(options, requireModelPath: false);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static List<string> GetErrors(ContentFilterOptions options, bool requireModelPath)
    {
        const string S = ContentFilterOptions.SectionName;
        var errors = new List<string>();
        if (requireModelPath && string.IsNullOrWhiteSpace(options.ModelPath))
        {
            errors.Add($"{S}:ModelPath is required: the path of the model description file (safeai-model.json).");
        }

        if (options.ModelFactory is not null && !string.IsNullOrWhiteSpace(options.ModelPath))
        {
            errors.Add($"{S}:ModelPath and ModelFactory are both set ({options.ModelPath}); set one of them.");
        }

        if (!IsScore(options.DefaultThreshold))
        {
            errors.Add($"{S}:DefaultThreshold must be between 0 and 1 (it is {options.DefaultThreshold}).");
        }

        if (!Enum.IsDefined(options.DefaultAction))
        {
            errors.Add($"{S}:DefaultAction '{options.DefaultAction}' is not Block, Redact, Escalate or LogOnly.");
        }

        if (options.OversizeAction is not (ContentAction.Block or ContentAction.Escalate or ContentAction.LogOnly))
        {
            errors.Add($"{S}:OversizeAction must be Block, Escalate or LogOnly (it is {options.OversizeAction}).");
        }

        foreach (var (category, c) in options.Categories)
        {
            if (c is null)
            {
                continue;
            }

            if (c.Threshold is { } t && !IsScore(t))
            {
                errors.Add($"{S}:Categories:{category}:Threshold must be between 0 and 1 (it is {t}).");
            }

            if (c.Action is { } a && !Enum.IsDefined(a))
            {
                errors.Add($"{S}:Categories:{category}:Action '{a}' is not Block, Redact, Escalate or LogOnly.");
            }
        }

        if (options.MaxWindows < 1)
        {
            errors.Add($"{S}:MaxWindows must be at least 1 (it is {options.MaxWindows}).");
        }

        if (options.WindowOverlap < 0)
        {
            errors.Add($"{S}:WindowOverlap cannot be negative (it is {options.WindowOverlap}).");
        }

        if (options.Screening is { } screening)
        {
            if (screening.WindowSize < 1)
            {
                errors.Add($"{S}:Screening:WindowSize must be at least 1 (it is {screening.WindowSize}).");
            }

            if (screening.ContextSize < MinContextSize)
            {
                errors.Add($"{S}:Screening:ContextSize must be at least {MinContextSize} (it is {screening.ContextSize}), so that a word split across two streamed windows is still scored whole.");
            }

            if (screening.SentenceFlushMinimum < 0)
            {
                errors.Add($"{S}:Screening:SentenceFlushMinimum cannot be negative (it is {screening.SentenceFlushMinimum}).");
            }
        }

        if (options.Runtime is { } runtime)
        {
            if (runtime.IntraOpThreads < 0)
            {
                errors.Add($"{S}:Runtime:IntraOpThreads cannot be negative (it is {runtime.IntraOpThreads}).");
            }

            if (runtime.InterOpThreads < 0)
            {
                errors.Add($"{S}:Runtime:InterOpThreads cannot be negative (it is {runtime.InterOpThreads}).");
            }

            if (runtime.WindowParallelism < 0)
            {
                errors.Add($"{S}:Runtime:WindowParallelism cannot be negative (it is {runtime.WindowParallelism}).");
            }

            if (runtime.LoneRunThreads < 0)
            {
                errors.Add($"{S}:Runtime:LoneRunThreads cannot be negative (it is {runtime.LoneRunThreads}).");
            }

            if (runtime.MaxBatchSize < 1)
            {
                errors.Add($"{S}:Runtime:MaxBatchSize must be at least 1 (it is {runtime.MaxBatchSize}).");
            }

            if (runtime.BatchWindow < TimeSpan.Zero)
            {
                errors.Add($"{S}:Runtime:BatchWindow cannot be negative (it is {runtime.BatchWindow}).");
            }
        }

        return errors;
    }

    private static bool IsScore(double value) => value is >= 0 and <= 1;
}
