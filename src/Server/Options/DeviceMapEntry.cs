using System.Globalization;

namespace MoeServe.Server.Options;

/// <summary>One "expert=device" entry of <see cref="ServerOptions.DeviceMap"/>.</summary>
public readonly record struct DeviceMapEntry(int Expert, int Device)
{
    /// <summary>Parses "3=1"; false on any malformed part.</summary>
    public static bool TryParse(string text, out DeviceMapEntry entry)
    {
        entry = default;
        var parts = (text ?? "").Split('=', StringSplitOptions.TrimEntries);
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var expert)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var device))
        {
            return false;
        }

        entry = new DeviceMapEntry(expert, device);
        return true;
    }
}
