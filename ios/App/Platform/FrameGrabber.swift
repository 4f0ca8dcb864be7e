import AVFoundation
import SiapFFI

/// A capture session whose video data output (32BGRA, 640x480) hands the next frame to whoever asked, as
/// `CameraImage.raw(format: .bgra8, ...)`. Pixels are copied row by row (padding dropped), never encoded.
final class FrameGrabber: NSObject, ObservableObject, AVCaptureVideoDataOutputSampleBufferDelegate, @unchecked Sendable {
    enum FrameError: Error { case timeout, superseded }

    let session = AVCaptureSession()
    private let sessionQueue = DispatchQueue(label: "siap.camera.session")
    private let frameQueue = DispatchQueue(label: "siap.camera.frames")
    // Touched only on frameQueue.
    private var waiting: CheckedContinuation<CameraImage, Error>?
    private var request = 0

    init(position: AVCaptureDevice.Position = .front) {
        super.init()
        session.beginConfiguration()
        session.sessionPreset = .vga640x480
        if let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: position),
           let input = try? AVCaptureDeviceInput(device: device), session.canAddInput(input) {
            session.addInput(input)
        }
        let output = AVCaptureVideoDataOutput()
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
        output.alwaysDiscardsLateVideoFrames = true
        output.setSampleBufferDelegate(self, queue: frameQueue)
        if session.canAddOutput(output) { session.addOutput(output) }
        // The app is portrait-only: ask for upright buffers and report rotation 0. (Passing the sensor
        // rotation to the core instead would save AVFoundation's rotation copy; verify on devices first.)
        if let connection = output.connection(with: .video) {
            if #available(iOS 17, *) {
                if connection.isVideoRotationAngleSupported(90) { connection.videoRotationAngle = 90 }
            } else if connection.isVideoOrientationSupported {
                connection.videoOrientation = .portrait
            }
        }
        session.commitConfiguration()
    }

    func start() { sessionQueue.async { self.session.startRunning() } }
    func stop() { sessionQueue.async { self.session.stopRunning() } }

    /// The next frame, or `FrameError.timeout` after 3 s.
    func next() async throws -> CameraImage {
        try await withCheckedThrowingContinuation { continuation in
            frameQueue.async {
                self.waiting?.resume(throwing: FrameError.superseded)
                self.waiting = continuation
                self.request += 1
                let mine = self.request
                self.frameQueue.asyncAfter(deadline: .now() + 3) {
                    guard self.request == mine, let late = self.waiting else { return }
                    self.waiting = nil
                    late.resume(throwing: FrameError.timeout)
                }
            }
        }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
        guard let continuation = waiting, let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        waiting = nil
        continuation.resume(returning: Self.bgra(pixels))
    }

    private static func bgra(_ pixels: CVPixelBuffer) -> CameraImage {
        CVPixelBufferLockBaseAddress(pixels, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixels, .readOnly) }
        let width = CVPixelBufferGetWidth(pixels)
        let height = CVPixelBufferGetHeight(pixels)
        let stride = CVPixelBufferGetBytesPerRow(pixels)
        let base = CVPixelBufferGetBaseAddress(pixels)!.assumingMemoryBound(to: UInt8.self)
        var data = Data(capacity: width * height * 4)
        for row in 0..<height { data.append(base + row * stride, count: width * 4) }
        return .raw(format: .bgra8, width: UInt32(width), height: UInt32(height), rotationDegrees: 0, data: data)
    }
}
