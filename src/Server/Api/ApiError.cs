namespace MoeServe.Server.Api;

/// <summary>An expected failure of a request, returned as a value and written as OpenAI's {"error": {...}} body.</summary>
/// <param name="Status">HTTP status code.</param>
/// <param name="Message">What is wrong, naming the field.</param>
/// <param name="Type">OpenAI error type (invalid_request_error, ...).</param>
/// <param name="Param">The offending request field, if any.</param>
/// <param name="Code">A stable machine-readable code.</param>
public sealed record ApiError(int Status, string Message, string Type, string? Param, string? Code)
{
    /// <summary>400: a field has a bad value.</summary>
    public static ApiError Invalid(string message, string? param, string code = "invalid_value") =>
        new(StatusCodes.Status400BadRequest, message, "invalid_request_error", param, code);

    /// <summary>400: a required field is missing.</summary>
    public static ApiError Missing(string param) =>
        Invalid($"'{param}' is required.", param, "missing_required_parameter");

    /// <summary>400: a field the server does not support with this value.</summary>
    public static ApiError Unsupported(string param, string why) =>
        Invalid($"'{param}' is not supported: {why}", param, "unsupported_parameter");

    /// <summary>404: unknown model.</summary>
    public static ApiError ModelNotFound(string model, string served) =>
        new(StatusCodes.Status404NotFound, $"The model '{model}' does not exist; this server serves '{served}'.", "invalid_request_error", "model", "model_not_found");

    /// <summary>404: unknown route.</summary>
    public static ApiError RouteNotFound(string method, string path) =>
        new(StatusCodes.Status404NotFound, $"No route {method} {path}. See GET /v1/models, POST /v1/completions, POST /v1/chat/completions, POST /tokenize, POST /detokenize.", "invalid_request_error", null, "not_found");

    /// <summary>405: known route, wrong method.</summary>
    public static ApiError MethodNotAllowed(string method, string path) =>
        new(StatusCodes.Status405MethodNotAllowed, $"{method} is not allowed on {path}.", "invalid_request_error", null, "method_not_allowed");

    /// <summary>413: body over the limit.</summary>
    public static ApiError TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than {limit} bytes.", "invalid_request_error", null, "request_too_large");

    /// <summary>429: the waiting queue is full.</summary>
    public static ApiError Overloaded(int waiting) =>
        new(StatusCodes.Status429TooManyRequests, $"The server is at capacity ({waiting} requests already waiting); retry later.", "rate_limit_error", null, "server_overloaded");

    /// <summary>503: not ready (loading, or draining for shutdown).</summary>
    public static ApiError Unavailable(string why) =>
        new(StatusCodes.Status503ServiceUnavailable, why, "server_error", null, "service_unavailable");

    /// <summary>504: the request's deadline passed.</summary>
    public static ApiError Timeout(TimeSpan deadline) =>
        new(StatusCodes.Status504GatewayTimeout, $"The request did not finish within its deadline of {deadline.TotalSeconds:0.###} s.", "timeout_error", null, "timeout");

    /// <summary>500: an unexpected failure (details are logged, not returned).</summary>
    public static ApiError Internal(string traceId) =>
        new(StatusCodes.Status500InternalServerError, $"Internal error (trace {traceId}); see the server log.", "server_error", null, "internal_error");

    /// <summary>The JSON body.</summary>
    public ErrorBodyDto ToBody() => new(new ErrorDto(Message, Type, Param, Code));

    /// <summary>Writes the error as the response.</summary>
    public IResult ToResult() => Results.Json(ToBody(), ServerJsonContext.Default.ErrorBodyDto, statusCode: Status);
}
