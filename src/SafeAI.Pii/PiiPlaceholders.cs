using System.Text;
using System.Text.RegularExpressions;

namespace SafeAI.Pii;

/// <summary>
/// The placeholders of one call: each distinct value gets one typed placeholder (<c>[EMAIL_1]</c>, <c>[EMAIL_2]</c>, ...),
/// the same every time it appears, so the model can still tell two addresses apart. Not thread-safe: one per call.
/// </summary>
public sealed partial class PiiPlaceholders
{
    private readonly Dictionary<string, string> _byValue = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _byPlaceholder = new(StringComparer.Ordinal);
    private readonly int[] _counters = new int[8];

    /// <summary>Gets the number of distinct values replaced.</summary>
    public int Count => _byValue.Count;

    /// <summary>Replaces each finding in <paramref name="text"/> with its placeholder.</summary>
    /// <param name="text">The text the findings were made in.</param>
    /// <param name="entities">The findings, ordered by position and not overlapping (as <see cref="PiiDetector.Detect"/> returns them).</param>
    /// <returns>The redacted text; <paramref name="text"/> itself when there are no findings.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A finding lies outside the text or overlaps the one before it.</exception>
    public string Redact(string text, IReadOnlyList<PiiEntity> entities)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(entities);
        if (entities.Count == 0)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length);
        var at = 0;
        for (var i = 0; i < entities.Count; i++)
        {
            var entity = entities[i];
            if (entity.Start < at || entity.Length <= 0 || entity.End > text.Length)
            {
                throw new ArgumentException($"Finding {i} ({entity.Start}..{entity.End}) lies outside the text or overlaps the one before it.", nameof(entities));
            }

            _ = sb.Append(text, at, entity.Start - at).Append(GetOrAdd(entity.Type, text.Substring(entity.Start, entity.Length)));
            at = entity.End;
        }

        return sb.Append(text, at, text.Length - at).ToString();
    }

    /// <summary>Gets whether <paramref name="value"/> was replaced in this call.</summary>
    /// <param name="value">The value as written.</param>
    /// <returns><see langword="true"/> when it has a placeholder.</returns>
    public bool Contains(string value) => _byValue.ContainsKey(value);

    /// <summary>Replaces the placeholders of this call found in <paramref name="text"/> with the original values; unknown placeholders stay as they are.</summary>
    /// <param name="text">The text, typically the model's answer.</param>
    /// <returns>The restored text; <paramref name="text"/> itself when it holds no placeholder of this call.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    public string Restore(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (_byPlaceholder.Count == 0 || !text.Contains('[', StringComparison.Ordinal))
        {
            return text;
        }

        StringBuilder? sb = null;
        var at = 0;
        foreach (var m in PlaceholderRegex().EnumerateMatches(text))
        {
            if (_byPlaceholder.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(text.AsSpan(m.Index, m.Length), out var value))
            {
                sb ??= new StringBuilder(text.Length);
                _ = sb.Append(text, at, m.Index - at).Append(value);
                at = m.Index + m.Length;
            }
        }

        return sb is null ? text : sb.Append(text, at, text.Length - at).ToString();
    }

    private string GetOrAdd(PiiEntityTypes type, string value)
    {
        if (_byValue.TryGetValue(value, out var placeholder))
        {
            return placeholder;
        }

        var slot = System.Numerics.BitOperations.TrailingZeroCount((int)type);
        placeholder = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"[{PiiReasons.LabelFor(type)}_{++_counters[slot]}]");
        _byValue.Add(value, placeholder);
        _byPlaceholder.Add(placeholder, value);
        return placeholder;
    }

    [GeneratedRegex(@"\[(?:EMAIL|PHONE|CARD|IBAN|SSN|IP|SECRET)_[0-9]{1,7}\]", RegexOptions.CultureInvariant, 1000)]
    private static partial Regex PlaceholderRegex();
}
