using System.Reflection;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Routing.Template;
using MoeServe.Server.Api;
using MoeServe.Server.Dashboard;
using MoeServe.Server.Hosting;
using MoeServe.Server.Scheduling;
using Prometheus;

namespace MoeServe.Server;

/// <summary>Routes and middleware of the server.</summary>
public static partial class ServerEndpoints
{
    private static readonly string[] KnownEndpoints =
        ["/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/models/{id}", "/health/live", "/health/ready", "/metrics", "/", "/dashboard", "/dashboard/data", .. TokenizeHandler.Routes];

    // Route templates (with their parameters, so /v1/models/x is known) and the one method each answers.
    private static readonly (TemplateMatcher Route, string Method)[] AllowedMethods =
    [
        .. new (string Template, string Method)[]
        {
            ("/v1/completions", "POST"),
            ("/v1/chat/completions", "POST"),
            ("/v1/models", "GET"),
            ("/v1/models/{id}", "GET"),
            ("/health/live", "GET"),
            ("/health/ready", "GET"),
            ("/metrics", "GET"),
            ("/", "GET"),
            ("/dashboard", "GET"),
            ("/dashboard/data", "GET"),
            ("/tokenize", "POST"),
            ("/detokenize", "POST"),
        }.Select(r => (new TemplateMatcher(TemplateParser.Parse(r.Template), new RouteValueDictionary()), r.Method)),
    ];

    /// <summary>Adds middleware and every route to <paramref name="app"/>.</summary>
    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("MoeServe.Server.Errors");
        var inFlight = app.Services.GetRequiredService<InFlightRequests>();

        // Outermost, so shutdown waits until the last response has been written.
        app.Use(async (context, next) =>
        {
            using var scope = inFlight.Enter();
            await next(context).ConfigureAwait(false);
        });

        app.UseExceptionHandler(handler => handler.Run(async context =>
        {
            var exception = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            if (exception is BadHttpRequestException bad)
            {
                var error = bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? ApiError.TooLarge(context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize ?? 0)
                    : ApiError.Invalid(bad.Message, null, "bad_request") with { Status = bad.StatusCode };
                await GenerationHandler.WriteErrorAsync(context, error).ConfigureAwait(false);
                return;
            }

            LogUnhandled(logger, exception, context.TraceIdentifier);
            await GenerationHandler.WriteErrorAsync(context, ApiError.Internal(context.TraceIdentifier)).ConfigureAwait(false);
        }));

        // Count every response by route pattern (a fixed list, so the label set stays bounded).
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            finally
            {
                var pattern = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
                var endpoint = pattern is not null && KnownEndpoints.Contains(pattern) ? pattern : "other";
                metrics.HttpRequests.WithLabels(endpoint, context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
            }
        });

        app.MapPost("/v1/completions", (HttpContext context, GenerationHandler handler) => handler.HandleAsync(context, EndpointKind.Completion));
        app.MapPost("/v1/chat/completions", (HttpContext context, GenerationHandler handler) => handler.HandleAsync(context, EndpointKind.Chat));
        app.MapPost("/tokenize", (HttpContext context, TokenizeHandler handler) => handler.TokenizeAsync(context));
        app.MapPost("/detokenize", (HttpContext context, TokenizeHandler handler) => handler.DetokenizeAsync(context));
        app.MapGet("/v1/models", (ModelHost model, TimeProvider time) =>
            Results.Json(new ModelListDto("list", [Describe(model, time)]), ServerJsonContext.Default.ModelListDto));
        app.MapGet("/v1/models/{id}", (string id, ModelHost model, TimeProvider time) =>
            id == model.ServedModelName
                ? Results.Json(Describe(model, time), ServerJsonContext.Default.ModelDto)
                : ApiError.ModelNotFound(id, model.ServedModelName).ToResult());

        app.MapGet("/health/live", () => Results.Json(new HealthDto("live", null), ServerJsonContext.Default.HealthDto));
        app.MapGet("/health/ready", (ServerState state) => state.IsReady
            ? Results.Json(new HealthDto("ready", null), ServerJsonContext.Default.HealthDto)
            : Results.Json(new HealthDto(state.Phase.ToString().ToLowerInvariant(), null), ServerJsonContext.Default.HealthDto, statusCode: StatusCodes.Status503ServiceUnavailable));

        app.MapMetrics("/metrics", metrics.Registry);

        app.MapGet("/", DashboardPage);
        app.MapGet("/dashboard", DashboardPage);
        app.MapGet("/dashboard/data", (DashboardRecorder dashboard, BatchScheduler scheduler) =>
            Results.Json(dashboard.Snapshot(scheduler.RunningCount, scheduler.WaitingCount), ServerJsonContext.Default.DashboardSnapshot));

        // The fallback also sees known paths asked with the wrong method: answer those 405, the rest 404.
        app.MapFallback((HttpContext context) =>
        {
            var path = context.Request.Path.Value ?? "";
            foreach (var (route, allowed) in AllowedMethods)
            {
                if (route.TryMatch(context.Request.Path, new RouteValueDictionary()))
                {
                    context.Response.Headers.Allow = allowed;
                    return ApiError.MethodNotAllowed(context.Request.Method, path).ToResult();
                }
            }

            return ApiError.RouteNotFound(context.Request.Method, path).ToResult();
        });
    }

    private static ModelDto Describe(ModelHost model, TimeProvider time) =>
        new(model.ServedModelName, "model", time.GetUtcNow().ToUnixTimeSeconds(), "moeserve", model.ServedQ is { } q ? new ModelRoutingDto(q.Policy, q.Source, q.Scale) : null);

    private static IResult DashboardPage()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("MoeServe.Server.Dashboard.dashboard.html")
            ?? throw new InvalidOperationException("The dashboard page is not embedded.");
        using var reader = new StreamReader(stream);
        return Results.Content(reader.ReadToEnd(), "text/html; charset=utf-8");
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "Unhandled error in request {TraceId}")]
    private static partial void LogUnhandled(ILogger logger, Exception? exception, string traceId);
}
