using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace MoeServe.Server.Api;

/// <summary>Reads a request body up to a byte limit: refuses a declared oversize length before reading, and stops reading at the limit otherwise.</summary>
public static partial class RequestBodyReader
{
    /// <summary>The log category of body-read failures.</summary>
    public const string LogCategory = "MoeServe.Server.Api.RequestBodyReader";

    /// <summary>The body bytes, or 413 when it is over <paramref name="limit"/>.</summary>
    public static async Task<(byte[]? Body, ApiError? Error)> ReadAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength is { } declared && declared > limit)
        {
            return (null, ApiError.TooLarge(limit));
        }

        // Kestrel enforces the same limit for chunked bodies without a Content-Length.
        var sizeFeature = request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false })
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(limit, request.ContentLength ?? 4096) + 1);
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(4096);
                var read = await request.Body.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > limit)
                {
                    return (null, ApiError.TooLarge(limit));
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, ApiError.TooLarge(limit));
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's verdict on the framing: fewer bytes than Content-Length before the client closed,
            // or a broken chunk. The client's fault (and usually the client is gone), so Debug, no stack trace.
            LogBodyRejected(Logger(request), e.StatusCode, e.Message);
            return (null, ApiError.Invalid($"The request body could not be read: {e.Message}", null, "bad_request") with { Status = e.StatusCode });
        }
        catch (Exception e) when (e is ConnectionResetException || (e is OperationCanceledException or IOException && request.HttpContext.RequestAborted.IsCancellationRequested))
        {
            // The connection was reset mid-body: nobody will read the answer, but the handler still ends normally.
            // A reset can surface here before Kestrel flags RequestAborted, so ConnectionResetException counts on its own.
            LogClientGone(Logger(request), e.GetType().Name);

            // Say so to Kestrel too: otherwise, when the reset beat its own abort flag, it tries to drain
            // the rest of a body whose reader already failed, and logs that at Error.
            request.HttpContext.Abort();
            return (null, ApiError.Invalid("The client closed the connection before the whole body arrived.", null, "incomplete_body"));
        }

        return (buffer.WrittenSpan.ToArray(), null);
    }

    // The reader is a static helper called by the handler; the request's services carry the app's logging.
    private static ILogger Logger(HttpRequest request) =>
        request.HttpContext.RequestServices?.GetService<ILoggerFactory>()?.CreateLogger(LogCategory) ?? NullLogger.Instance;

    [LoggerMessage(EventId = 30, Level = LogLevel.Debug, Message = "Request body rejected by the server ({Status}): {Reason}")]
    private static partial void LogBodyRejected(ILogger logger, int status, string reason);

    [LoggerMessage(EventId = 31, Level = LogLevel.Debug, Message = "Client went away while sending the request body ({Error})")]
    private static partial void LogClientGone(ILogger logger, string error);
}
