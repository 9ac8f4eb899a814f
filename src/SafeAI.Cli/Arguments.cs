using System.Globalization;

namespace SafeAI.Cli;

/// <summary>
/// Parsed <c>--name value</c> (or <c>--name=value</c>) options; a name may repeat. Given the command's
/// <see cref="CommandSpec"/>, an unknown name, a flag given a value or an option without one is an
/// <see cref="ArgumentException"/> (exit code 2); without one, a name without a value is a flag.
/// </summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _flags = new(StringComparer.OrdinalIgnoreCase);

    public Arguments(IEnumerable<string> args, CommandSpec? spec = null)
    {
        string? pending = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                EndPending(pending, spec);
                var name = arg[2..];
                string? inline = null;
                if (name.IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
                {
                    (name, inline) = (name[..eq], name[(eq + 1)..]);
                }

                Check(name, spec);
                if (inline is not null)
                {
                    if (spec?.IsFlag(name) == true)
                    {
                        throw new ArgumentException($"--{name} takes no value (it was given '{inline}').");
                    }

                    Add(name, inline);
                    pending = null;
                }
                else
                {
                    pending = spec?.IsFlag(name) == true ? Flagged(name) : name;
                }

                continue;
            }

            if (pending is null)
            {
                throw new ArgumentException($"Unexpected argument '{arg}': options are written --name value.");
            }

            Add(pending, arg);
            pending = null;
        }

        EndPending(pending, spec);
    }

    private string? Flagged(string name)
    {
        _flags.Add(name);
        return null;
    }

    private void EndPending(string? pending, CommandSpec? spec)
    {
        if (pending is null)
        {
            return;
        }

        if (spec is not null)
        {
            throw new ArgumentException($"--{pending} needs a value.");
        }

        _flags.Add(pending);
    }

    private void Add(string name, string value)
    {
        if (!_values.TryGetValue(name, out var list))
        {
            _values[name] = list = [];
        }

        list.Add(value);
    }

    private static void Check(string name, CommandSpec? spec)
    {
        if (spec is null || spec.Accepts(name))
        {
            return;
        }

        throw new ArgumentException($"Unknown option '--{name}' for 'safeai {spec.Name}'.{CommandLine.Suggest(name, spec.Options.Concat(spec.Flags), "--")} Run 'safeai {spec.Name} --help' for its options.");
    }

    public string Required(string name) => Optional(name) ?? throw new ArgumentException($"--{name} is required.");

    public string? Optional(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var list) ? list : [];

    public bool Flag(string name) => _flags.Contains(name);

    /// <summary>
    /// The comma-separated names of <c>--name</c>, each one of <paramref name="valid"/> (null when the option is absent).
    /// An empty list, or a name that is not <paramref name="kind"/>, is a usage error that lists the valid names and
    /// suggests the closest.
    /// </summary>
    public string[]? Names(string name, IReadOnlyList<string> valid, string kind, StringComparer comparer)
    {
        if (Optional(name) is not { } value)
        {
            return null;
        }

        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0)
        {
            throw new ArgumentException($"--{name} needs one or more of {string.Join(", ", valid)}, separated by commas.");
        }

        foreach (var n in names)
        {
            if (!valid.Contains(n, comparer))
            {
                throw new ArgumentException($"--{name}: '{n}' is not {kind}; use {string.Join(", ", valid)}.{CommandLine.Suggest(n, valid)}");
            }
        }

        return names;
    }

    public int Int(string name, int fallback) =>
        Optional(name) is not { } s ? fallback
        : int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
        : throw new ArgumentException($"--{name} must be a whole number (it is '{s}').");

    public double Double(string name, double fallback, double min, double max)
    {
        var value = Double(name, fallback);
        return value >= min && value <= max
            ? value
            : throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"--{name} must be between {min} and {max} (it is '{Optional(name)}')."));
    }

    public double Double(string name, double fallback) =>
        Optional(name) is not { } s ? fallback
        : double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v
        : throw new ArgumentException($"--{name} must be a number (it is '{s}').");
}
