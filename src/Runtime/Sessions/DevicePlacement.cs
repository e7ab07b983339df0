namespace MoeServe.Runtime.Sessions;

/// <summary>Where each expert runs: from the options' map, else round-robin over the device list.</summary>
internal static class DevicePlacement
{
    /// <summary>Device id of expert <paramref name="expert"/> (the same for every layer).</summary>
    public static int DeviceOf(RuntimeOptions options, int expert)
    {
        if (options.ExpertDeviceMap is not null && options.ExpertDeviceMap.TryGetValue(expert, out int device))
        {
            return device;
        }

        return options.Devices[expert % options.Devices.Count];
    }

    /// <summary>Problems with the map for a model with <paramref name="experts"/> experts (index out of range, device not in the list).</summary>
    public static IReadOnlyList<string> Check(RuntimeOptions options, int experts)
    {
        var errors = new List<string>();
        if (options.ExpertDeviceMap is null)
        {
            return errors;
        }

        foreach (var (expert, device) in options.ExpertDeviceMap)
        {
            if (expert >= experts)
            {
                errors.Add($"expertDeviceMap: expert {expert} does not exist (the model has {experts} experts per layer).");
            }

            if (!options.Devices.Contains(device))
            {
                errors.Add($"expertDeviceMap: expert {expert} is mapped to device {device}, which is not in devices [{string.Join(", ", options.Devices)}].");
            }
        }

        return errors;
    }
}
