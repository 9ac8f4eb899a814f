using System.Globalization;

namespace SafeAI.Cli;

/// <summary>Parsed <c>--name value</c> options (a name may repeat; a name without a value is a flag).</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _flags = new(StringComparer.OrdinalIgnoreCase);

    public Arguments(IEnumerable<string> args)
    {
        string? pending = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (pending is not null)
                {
                    _flags.Add(pending);
                }

                pending = arg[2..];
                continue;
            }

            if (pending is null)
            {
                throw new ArgumentException($"Unexpected argument '{arg}': options are written --name value.");
            }

            if (!_values.TryGetValue(pending, out var list))
            {
                _values[pending] = list = [];
            }

            list.Add(arg);
            pending = null;
        }

        if (pending is not null)
        {
            _flags.Add(pending);
        }
    }

    public string Required(string name) => Optional(name) ?? throw new ArgumentException($"--{name} is required.");

    public string? Optional(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var list) ? list : [];

    public bool Flag(string name) => _flags.Contains(name);

    public int Int(string name, int fallback) =>
        Optional(name) is not { } s ? fallback
        : int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
        : throw new ArgumentException($"--{name} must be a whole number (it is '{s}').");

    public double Double(string name, double fallback) =>
        Optional(name) is not { } s ? fallback
        : double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v
        : throw new ArgumentException($"--{name} must be a number (it is '{s}').");
}
