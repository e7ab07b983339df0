using Microsoft.Extensions.Options;

namespace MoeServe.Server.Options;

/// <summary>Registers <see cref="ServerOptions"/> the ASP.NET Core way: bound once, validated at start-up.</summary>
public static class ServerOptionsRegistration
{
    /// <summary>
    /// Adds <c>IOptions&lt;ServerOptions&gt;</c> with its setup and validator (run when the host starts;
    /// a failure is an <see cref="OptionsValidationException"/> listing every problem), and
    /// <see cref="ServerOptions"/> itself, the same bound instance, for constructors that take it.
    /// </summary>
    public static IServiceCollection AddServerOptions(this IServiceCollection services)
    {
        services.AddSingleton<ServerOptionsBindingReport>();
        services.AddSingleton<IConfigureOptions<ServerOptions>, ServerOptionsSetup>();
        services.AddSingleton<IValidateOptions<ServerOptions>, ServerOptionsValidator>();
        services.AddOptions<ServerOptions>().ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ServerOptions>>().Value);
        return services;
    }
}
